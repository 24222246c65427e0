"""Use cases. Each public function or method keeps one or more promises of PROMISES.md."""
