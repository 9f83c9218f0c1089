"""The docker target: specs as pulumi-docker networks, volumes and hardened containers.

Serves the local, linux and wsl2 platforms (this machine's Engine, or a remote one).
"""
