from payam.cli.main import main

main()
