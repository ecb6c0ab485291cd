from recist_tool.cli import main

main()
