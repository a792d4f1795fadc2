"""Settings, read once from ``PAGEPULSE_*`` environment variables.

Every setting is documented in README.md ("Configuration"); a test keeps the two in
step. The secret key is generated and persisted in the data dir on first start when
``PAGEPULSE_SECRET_KEY`` is unset, so sessions survive restarts without set-up.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyNetworks(tuple):
    """The trusted proxies, hashed by identity: the ingest path passes them to a cached
    function on every event, and hashing each network object costs microseconds."""

    def __hash__(self) -> int:
        return id(self)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEPULSE_", extra="ignore")

    data_dir: Path = Path("./data")
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    trusted_proxies: str = ""
    geoip_db: Path | None = None
    flush_seconds: float = 2.0
    wal_segment_bytes: int = 32 * 1024 * 1024
    compact_seconds: float = 300.0
    mode: Literal["selfhosted", "saas"] = "selfhosted"
    plans_file: Path | None = None
    billing_webhook_secret: str = ""
    billing_upgrade_url: str = ""
    usage_check_seconds: float = 3600.0
    custom_domain_target: str = ""
    custom_domain_recheck_seconds: float = 3600.0
    custom_domain_grace_seconds: float = 3 * 24 * 3600.0
    dns_nameserver: str = ""
    dns_timeout: float = 5.0
    rate_limit_per_second: float = 2000.0
    rate_limit_burst: int = 10000
    registration_open: bool = True
    enable_docs: bool = False
    log_level: str = "info"
    smtp_url: str = ""
    mail_from: str = "PagePulse <pagepulse@localhost>"

    # Derived paths: one place that knows the data dir's layout (see data/README.md).
    @property
    def db_path(self) -> Path:
        return self.data_dir / "pagepulse.sqlite3"

    @property
    def events_dir(self) -> Path:
        return self.data_dir / "events"

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @cached_property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        parts = [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]
        return ProxyNetworks(ipaddress.ip_network(p, strict=False) for p in parts)

    @cached_property
    def secret(self) -> str:
        """The signing key: the env var, else a key persisted in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return key


def get_settings() -> Settings:
    return Settings()
