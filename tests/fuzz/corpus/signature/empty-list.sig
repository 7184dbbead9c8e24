{ "signatures": [] }
