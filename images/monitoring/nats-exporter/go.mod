module hearth/nats-exporter

go 1.24
