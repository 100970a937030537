from telecase.cli import main

main()
