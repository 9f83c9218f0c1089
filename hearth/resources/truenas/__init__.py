"""The truenas target: datasets, snapshot tasks, secret files and one custom app, managed
through the TrueNAS middleware's JSON-RPC 2.0 WebSocket API as Pulumi dynamic resources."""
