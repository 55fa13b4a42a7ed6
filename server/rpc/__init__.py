"""The RPC face: the servicer, its wire encoding, registration, paging and summaries."""
