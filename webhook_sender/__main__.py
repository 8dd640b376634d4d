from webhook_sender.service import main

main()
