"""A send: planning recipients into batches, the ledger, and handing batches over."""
