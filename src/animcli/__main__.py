from animcli.cli import main

main()
