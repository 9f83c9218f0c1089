"""TrueNAS as Pulumi dynamic resources: datasets, snapshot tasks, secret and config files and
custom apps, managed through the middleware's JSON-RPC 2.0 WebSocket API (`rpc`, the client
the Ansible role shares). `hearth.targets.truenas` composes them into a stack."""
