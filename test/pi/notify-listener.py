"""A stand-in for systemd's notify socket: binds an AF_UNIX datagram socket at argv[1] and prints each message on one
line (its variables joined by " | "). File descriptors sent along (systemd-notify's barrier) are not taken: the kernel
closes them, which is what tells systemd-notify the message was received."""
import socket
import sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = sock.recv(4096)
    print(data.decode("utf-8", "replace").strip().replace("\n", " | "), flush=True)
