package chserver_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/fleetproof/fleetproof/collector/internal/chserver"
)

// Without an Output comment this only compiles, so `go test` passes on
// machines without ClickHouse; TestStartRoundTrip runs the same steps.
func ExampleStart() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "clickhouse-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := chserver.Start(ctx, chserver.Options{Dir: dir})
	if err != nil {
		log.Fatal(err) // errors.Is(err, chserver.ErrNotInstalled) when there is no binary
	}
	defer srv.Stop(ctx)

	opts, err := clickhouse.ParseDSN(srv.DSN())
	if err != nil {
		log.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	var one uint8
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		log.Fatal(err)
	}
	fmt.Println(one)
}
