from telecase.cli.main import main

main()
