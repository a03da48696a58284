"""A throw-away CA and server certificate for the local stack's secure mode (``stack.secure``).

Made with Debian's openssl once per stack home; 127.0.0.1 and localhost are in the
certificate's SAN. Clients trust ``ca.pem``; Kafka reads the PEM key store directly.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import InstallError


@dataclass(frozen=True)
class TlsFiles:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def keystore(self) -> Path:
        """Key (PKCS#8, unencrypted) followed by the certificate chain: Kafka's PEM key store."""
        return self.directory / "server-keystore.pem"


def ensure_tls(directory: Path) -> TlsFiles:
    files = TlsFiles(directory)
    if files.keystore.exists():
        return files
    if shutil.which("openssl") is None:
        raise InstallError("secure mode needs openssl (Debian package openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)

    def run(*argv: str) -> None:
        result = subprocess.run(
            ["openssl", *argv], capture_output=True, text=True, cwd=d, check=False
        )
        if result.returncode != 0:
            raise InstallError(f"openssl {argv[0]} failed: {result.stderr[-500:]}")

    (directory / "san.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=vitalstream-local-ca",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server-key.rsa.pem",
        "-out",
        "server.csr",
    )
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )
    run("pkcs8", "-topk8", "-nocrypt", "-in", "server-key.rsa.pem", "-out", "server-key.pem")
    files.keystore.write_text(files.key.read_text() + files.cert.read_text() + files.ca.read_text())
    for p in directory.glob("*key*.pem"):
        p.chmod(0o600)
    return files
