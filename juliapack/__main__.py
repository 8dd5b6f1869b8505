from juliapack.cli import main

main()
