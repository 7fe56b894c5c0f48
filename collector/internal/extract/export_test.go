package extract

// SetMaxSheetRows sets how many rows, header included, a worksheet holds
// and returns the previous value. Tests that call it must not be
// parallel.
func SetMaxSheetRows(n int) int {
	old := maxSheetRows
	maxSheetRows = n
	return old
}
