"""From photo files to face vectors: crawling, decoding, detection, embedding, worker pools."""
