from ingest_api.app import main

main()
