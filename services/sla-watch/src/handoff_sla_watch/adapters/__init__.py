"""sla-watch's database edge: tables and the repository that reads and writes timers."""
