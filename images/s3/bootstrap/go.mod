module hearth/s3-bootstrap

go 1.24
