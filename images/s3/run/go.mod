module hearth/s3-run

go 1.24
