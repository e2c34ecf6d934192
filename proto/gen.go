// Package proto holds the podint gRPC API definition; the generated Go code
// lives in podint/v1.
package proto

//go:generate protoc --plugin=protoc-gen-go=../bin/tools/protoc-gen-go --plugin=protoc-gen-go-grpc=../bin/tools/protoc-gen-go-grpc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative podint/v1/podint.proto
