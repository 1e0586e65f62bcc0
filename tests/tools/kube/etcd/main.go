// etcd for the test control plane, built from the same etcd release the apiserver's client uses.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
