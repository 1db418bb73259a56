"""No network for the tests' builds: every Python process started with this folder on
``PYTHONPATH`` (the notebook kernels and ``jupyter-book`` of an offline build inherit it) can
reach only this machine. Connecting to, sending to or looking up any other address raises an
``OSError`` saying so; loopback (the kernels' ZeroMQ sockets) and Unix sockets keep working."""
import ipaddress
import socket

MESSAGE = "misgen tests: networking is disabled in this build"
_connect, _connect_ex, _sendto, _getaddrinfo = (socket.socket.connect, socket.socket.connect_ex,
                                                socket.socket.sendto, socket.getaddrinfo)


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise ConnectionRefusedError(f"{MESSAGE} (to {address[0]})")


def connect(self, address):
    _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    _check(args[-1])
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        raise socket.gaierror(socket.EAI_NONAME, f"{MESSAGE} (lookup of {host})")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo = getaddrinfo
