"""Docker-target components: thin translations of hearth specs into pulumi-docker resources."""
