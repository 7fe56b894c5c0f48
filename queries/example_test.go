package queries_test

import (
	"fmt"

	"github.com/fleetproof/fleetproof/queries"
)

func ExampleLoad() {
	cat, err := queries.Load()
	if err != nil {
		panic(err)
	}
	for _, c := range cat.ForPlatform("linux") {
		fmt.Println(c.ID, c.Criteria, c.Interval)
	}
	check, _ := cat.Check("disk_encryption")
	rows := []map[string]string{{"path": "/", "device_alias": "/dev/dm-0", "encrypted": "1", "compliant": "1"}}
	fmt.Println(check.Evaluate(rows).Outcome)
	// Output:
	// disk_encryption [CC6.1 CC6.7] 1h0m0s
	// firewall [CC6.6] 1h0m0s
	// malware_protection [CC6.8] 1h0m0s
	// os_auto_updates [CC7.1 CC8.1] 1h0m0s
	// screen_lock [CC6.1] 1h0m0s
	// pass
}
