"""Messages in and out of one kernel: its ZMQ sockets or a server's websocket, and the one
router per kernel that reads them and hands every message to whoever asked for it."""
