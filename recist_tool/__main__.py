from recist_tool.cli import console

console()
