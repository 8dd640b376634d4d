from processors.app import main

main()
