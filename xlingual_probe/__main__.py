from xlingual_probe.cli import main

main()
