from pgpart.cli import main

main()
