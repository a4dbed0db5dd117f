from pgpart.cli.app import main

main()
