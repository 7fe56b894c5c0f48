package store

// InsertBlockRows is how many results rows InsertEncoded sends per block.
const InsertBlockRows = insertBlockRows
