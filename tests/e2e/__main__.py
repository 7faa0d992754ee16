"""Real-browser end-to-end test of the integration in a live Home Assistant.

Run through `scripts/e2e`, which provides Chromium and Playwright. As a user would:

1. `scripts/develop --demo` on a fresh config folder (artifacts/e2e/config);
2. log in; Settings → Devices & services → Devices lists both meters;
3. the three-phase meter's page lists voltage, current and power per phase, the
   totals of power and energy of the grid phases A and C, and the solar power
   and energy of phase B (the demo's wiring), and the
   values equal the simulator's reading at the time Home Assistant shows as the
   last reading;
4. Add integration → IAMMETER Cloud for a second simulated account: first the
   form's errors (a wrong password, a closed port, a server that is not
   IAMMETER, a URL with a path), each keeping what was typed and costing a
   login only when a server was reached; then from the form to the new entry
   and its devices;
5. the refresh action pressed several times: the live values stay available;
6. the diagnostics dump: the two meters' look-alike serials become two aliases;
7. Configure → Phase roles → House: phase C becomes a device, with *Add to
   the Energy dashboard*: the dialog says what was added, the Energy
   settings list it; once the day-one history import is done, the Energy
   dashboard; the three-phase meter's page in Polish;
8. Ctrl-C stops both processes; a second `--demo` start on the same folder
   (the warm case) reaches a logged-in dashboard again, with both entries.

Python 3.11+ (the host's), standard library and Playwright only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
import contextlib
from datetime import UTC, datetime
import html
import itertools
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request
from zoneinfo import ZoneInfo

from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
HA_USER, HA_PASSWORD, HA_NAME = "demo", "demo-password", "Demo"
CLOUD_USER, CLOUD_PASSWORD = "demo@example.com", "demo-password"
SECOND_USER, SECOND_PASSWORD = "demo2@example.com", "demo2-password"
METERS = {"Garage": "SIM1PHASE001", "House": "SIM3PHASE001"}
SECOND_METERS = {"Workshop": "SIM1PHASE002", "Office": "SIM3PHASE002"}
TZ = ZoneInfo("Europe/Warsaw")  # the simulator's meters and config/configuration.yaml
# Keep Chromium off the network: no background services, updates or sync.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name but loopback fails to resolve: nothing leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
UI_TIMEOUT_MS = 60_000
GONE = ("unavailable", "unknown")
# What the three-phase meter's page must list (the entities enabled by default),
# and where the value comes from in the cloud's reading: (column of a phase row,
# or the sum of a column, decimals). Power factor and per-phase energy are
# disabled by default, so only the totals of energy are listed.
COLUMNS = {
    "Voltage": (0, 1),
    "Current": (1, 2),
    "Power": (2, 0),
    "Energy import": (4, 2),
    "Energy export": (5, 2),
}
PHASES = ("Voltage", "Current", "Power")
TOTALS = ("Power", "Energy import", "Energy export")
# The demo's wiring (scripts/demo_setup.py): phase B is a PV inverter (role
# solar), so the totals are the grid phases A and C.
GRID_ROWS = (0, 2)
SOLAR = {"Solar power phase B": (2, 0, -1.0), "Solar energy phase B": (5, 2, 1.0)}


class E2EError(Exception):
    """A check failed; the message says what was expected."""


# --- output -----------------------------------------------------------------------


class Report:
    """Numbered steps with their durations; screenshots by name."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.shots: list[Path] = []
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}

    @staticmethod
    def say(message: str) -> None:
        print(f"[e2e] {message}", flush=True)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        self.say(f"… {name}")
        try:
            yield
        except BaseException:
            self.say(f"✗ {name} ({time.monotonic() - began:.1f} s)")
            raise
        self.say(f"✓ {name} ({time.monotonic() - began:.1f} s)")

    def shot(self, page: Page, name: str, *, full_page: bool = False) -> None:
        path = self.out / "screenshots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=full_page)
        self.shots.append(path)
        self.say(f"  screenshot {path.relative_to(REPO)}")


# --- scripts/develop --demo ---------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _default_sigint() -> None:
    """Children start with Ctrl-C's default action, as from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Develop:
    """`scripts/develop --demo` in its own process group, logging to a file."""

    READY = "==> Home Assistant:"

    def __init__(self, out: Path, config: Path, ha_port: int, sim_port: int) -> None:
        self.out, self.config = out, config
        self.ha_port, self.sim_port = ha_port, sim_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = out / "develop.log"
        self._offset = 0

    @property
    def ha_url(self) -> str:
        return f"http://127.0.0.1:{self.ha_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def start(self, run: int) -> None:
        for port in (self.ha_port, self.sim_port):
            if _port_open(port):
                raise E2EError(f"port {port} is in use; choose others (--help)")
        env = {
            **os.environ,
            "HA_PORT": str(self.ha_port),
            "SIM_PORT": str(self.sim_port),
            "IAMMETER_DEV_CONFIG": str(self.config),
        }
        with self.log.open("ab") as log:
            log.write(f"\n===== e2e run {run}: scripts/develop --demo =====\n".encode())
            self._offset = log.tell()
            self.proc = subprocess.Popen(  # noqa: S603
                [str(REPO / "scripts/develop"), "--demo"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_sigint,  # noqa: PLW1509
            )

    def output(self) -> str:
        with self.log.open("rb") as log:
            log.seek(self._offset)
            return log.read().decode(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        """Until the banner shows (the demo is prepared) or the process ends."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.READY not in self.output():
            if self.proc.poll() is not None:
                raise E2EError(f"scripts/develop ended early:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise E2EError(f"scripts/develop not ready in {timeout:.0f} s")
            time.sleep(0.5)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def demo_lines(self) -> list[str]:
        return [
            line
            for line in self.output().splitlines()
            if line.startswith(("[demo]", "[develop]"))
        ]

    def stop(self, timeout: float = 90) -> None:
        """Ctrl-C (SIGINT to the process group), then both ports must be free."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise E2EError(
                f"scripts/develop did not stop within {timeout:.0f} s"
            ) from None
        deadline = time.monotonic() + 10
        while _port_open(self.ha_port) or _port_open(self.sim_port):
            if time.monotonic() > deadline:
                raise E2EError("a port is still open after scripts/develop stopped")
            time.sleep(0.2)
        if "[develop] stopped" not in self.output():
            raise E2EError(f"no clean stop message:\n{self.tail()}")


# --- HTTP helpers (the values behind the UI) ------------------------------------------


def _http(
    url: str,
    data: dict[str, Any] | None = None,
    *,
    form: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    body, all_headers = None, dict(headers or {})
    if data is not None and form:
        body = urllib.parse.urlencode(data).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif data is not None:
        body = json.dumps(data).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, body, all_headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def ha_token(ha_url: str) -> str:
    """An access token for the demo user, through the login flow."""
    client_id = f"{ha_url}/"
    flow = _http(
        f"{ha_url}/auth/login_flow",
        {
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": client_id,
        },
    )
    result = _http(
        f"{ha_url}/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": HA_USER, "password": HA_PASSWORD},
    )
    token = _http(
        f"{ha_url}/auth/token",
        {
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": client_id,
        },
        form=True,
    )
    return str(token["access_token"])


def last_reading(ha_url: str, token: str, device: str) -> datetime:
    """The time of the reading Home Assistant shows for a meter."""
    entity_id = f"sensor.{device.lower()}_last_reading"
    state = _http(
        f"{ha_url}/api/states/{entity_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    return datetime.fromisoformat(state["state"]).astimezone(UTC)


def _http_status(
    url: str, data: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    """(HTTP status, JSON answer) of a POST, also for an error status."""
    request = urllib.request.Request(  # noqa: S310
        url,
        json.dumps(data).encode(),
        {**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body or b"null")
        except ValueError:
            return err.code, body.decode(errors="replace")


def device_id(ha_url: str, token: str, entity_id: str) -> str:
    """The device of an entity (the template API answers plain text)."""
    request = urllib.request.Request(  # noqa: S310
        f"{ha_url}/api/template",
        json.dumps({"template": f"{{{{ device_id('{entity_id}') }}}}"}).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return str(resp.read().decode()).strip()


_CLOUD_TOKEN: list[str] = []  # one login to the simulator per run (5 an hour)


def cloud_rows(sim_url: str, sn: str, at: datetime) -> list[list[float]]:
    """The simulator's reading of a meter at a minute, from its history endpoint."""
    if not _CLOUD_TOKEN:
        login = _http(
            f"{sim_url}/api/v1/user/login",
            {"userName": CLOUD_USER, "password": CLOUD_PASSWORD},
        )
        _CLOUD_TOKEN.append(login["data"]["token"])
    day = at.astimezone(TZ).date().isoformat()
    query = urllib.parse.urlencode({"startTime": day, "endTime": day, "interval": 60})
    answer = _http(
        f"{sim_url}/api/v1/site/meterdatalist2/{sn}?{query}",
        headers={"token": _CLOUD_TOKEN[0]},
    )
    wanted = f"{at.year}/{at.month}/{at.day} {at.hour}:{at.minute:02d}:00"
    for point in answer["data"] or []:
        if point["gmtTime"] == wanted:
            return [[float(x) for x in row] for row in point["values"]]
    raise E2EError(f"the simulator has no reading of {sn} at {wanted} UTC")


# --- the browser -------------------------------------------------------------------

# Text of an element as rendered: through shadow roots and slots, visible parts only.
RENDERED_TEXT = """(root) => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (getComputedStyle(node).display === "none") return;
      if (node.tagName === "SLOT") {
        const assigned = node.assignedNodes({flatten: true});
        for (const child of assigned.length ? assigned : node.childNodes) walk(child);
        return;
      }
      if (node.shadowRoot) { walk(node.shadowRoot); return; }
    }
    for (const child of node.childNodes) walk(child);
  };
  walk(root);
  return out;
}"""


def rendered_text(page: Page, selector: str) -> list[str]:
    texts: list[str] = page.locator(selector).first.evaluate(RENDERED_TEXT)
    return texts


def number(text: str) -> float:
    """`-1,517 W` → -1517.0."""
    match = re.match(r"^(-?[\d,]*\.?\d+)", text.strip())
    if not match:
        raise E2EError(f"not a number: {text!r}")
    return float(match.group(1).replace(",", ""))


def expected_names() -> list[str]:
    names = [f"{kind} phase {p}" for kind in PHASES for p in "ABC"]
    return names + list(TOTALS) + list(SOLAR)


def expected_values(rows: list[list[float]]) -> dict[str, tuple[float, int]]:
    values = {}
    for kind, (column, decimals) in COLUMNS.items():
        if kind in PHASES:
            for index, phase in enumerate("ABC"):
                values[f"{kind} phase {phase}"] = (rows[index][column], decimals)
        if kind in TOTALS:
            values[kind] = (sum(rows[i][column] for i in GRID_ROWS), decimals)
    for name, (column, decimals, sign) in SOLAR.items():
        values[name] = (sign * rows[1][column] + 0.0, decimals)
    return values


class Browser:
    """One headless Chromium with a fresh profile."""

    def __init__(self, pw: Any, chromium: str, report: Report) -> None:
        self.profile = tempfile.mkdtemp(prefix="iammeter-e2e-chromium-")
        self.context: BrowserContext = pw.chromium.launch_persistent_context(
            self.profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id=str(TZ),
        )
        self.context.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.report = report
        self.errors: list[str] = []
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def log_in(self, ha_url: str, shot: str | None) -> None:
        page = self.page
        page.goto(f"{ha_url}/")
        page.locator("input[name=username]").fill(HA_USER)
        page.locator("input[name=password]").fill(HA_PASSWORD)
        if shot:
            self.report.shot(page, shot)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text(f"Welcome {HA_NAME}")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/(home|lovelace)/"))

    def back_to_ui(self, ha_url: str) -> None:
        """From a page of evidence back to Home Assistant's devices."""
        self.page.goto(f"{ha_url}/config/devices/dashboard")
        expect(self.page.locator("ha-sidebar")).to_be_visible()

    def sidebar(self, item: str) -> None:
        """Click an item of the sidebar (Settings, Energy, ...)."""
        self.page.locator("ha-sidebar").get_by_text(item, exact=True).click()

    def open_devices(self) -> None:
        page = self.page
        self.sidebar("Settings")
        page.get_by_text("Devices & services", exact=True).first.click()
        page.get_by_role("tab", name="Devices").click()
        expect(page).to_have_url(re.compile(r"/config/devices/dashboard"))

    def device_rows(self, names: list[str]) -> None:
        for name in names:
            expect(
                self.page.locator("ha-data-table").get_by_text(name, exact=True)
            ).to_be_visible()

    def entity_values(self, card: str) -> dict[str, str]:
        """Name → shown state of the entities card titled `card`."""
        selector = f"ha-device-entities-card:has-text('{card}')"
        texts = rendered_text(self.page, selector)
        values: dict[str, str] = {}
        for name, value in itertools.pairwise(texts):
            if name not in values and re.match(r"^-?[\d,.]+\s*\S*$", value):
                values.setdefault(name, value)
        return values


# --- the scenario --------------------------------------------------------------------


def check_three_phase_page(
    browser: Browser, develop: Develop, token: str, report: Report
) -> None:
    page = browser.page
    page.locator("ha-data-table").get_by_text("House", exact=True).click()
    expect(page).to_have_url(re.compile(r"/config/devices/device/"))
    expect(page.get_by_text("WEM3080T")).to_be_visible()
    for name in expected_names():
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    report.shot(page, "device-three-phase", full_page=True)
    for _attempt in range(3):
        before = last_reading(develop.ha_url, token, "House")
        shown = browser.entity_values("Sensors")
        if last_reading(develop.ha_url, token, "House") == before:
            break
    else:
        raise E2EError("the reading kept changing while the page was read")
    rows = cloud_rows(develop.sim_url, METERS["House"], before)
    wrong = []
    for name, (value, decimals) in expected_values(rows).items():
        if name not in shown:
            wrong.append(f"{name}: not shown")
        elif abs(number(shown[name]) - value) > 0.5 * 10**-decimals + 1e-9:
            wrong.append(f"{name}: shown {shown[name]}, simulator {value}")
    if wrong:
        raise E2EError("values differ from the simulator: " + "; ".join(wrong))
    local = before.astimezone(TZ).strftime("%H:%M")
    report.say(f"  {len(shown)} values equal the simulator's reading of {local}")


LOGINS_LEFT = re.compile(r"Logins left this hour: (\d+)")


def logins_left(page: Page) -> int:
    """What the setup form says about the logins left this hour."""
    text = page.get_by_text(LOGINS_LEFT).first.inner_text()
    match = LOGINS_LEFT.search(text)
    if match is None:
        raise E2EError(f"no logins left in {text!r}")
    return int(match.group(1))


def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def fill_setup_form(page: Page, user: str, password: str, url: str) -> None:
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(password)
    api_url = page.locator("input[name=api_url]")
    if not api_url.is_visible():
        page.get_by_text("Advanced", exact=True).click()
    api_url.fill(url)


def setup_errors(browser: Browser, develop: Develop, report: Report) -> None:
    """Each error of the setup form: its text, what was typed kept, and a login
    spent only when a server was reached."""
    page = browser.page
    # The form counts the logins of the server it names: the default one until
    # a submit names the simulator's host. A URL with a path is refused before
    # any request; after it the form counts the simulator's host.
    left = None
    cases = (
        # (screenshot, password, server URL, error text, logins it costs)
        (
            "url-with-path",
            SECOND_PASSWORD,
            f"{develop.sim_url}/api/v1",
            "The server URL must be http:// or https:// followed by",
            0,
        ),
        (
            "wrong-password",
            "wrong-password",
            develop.sim_url,
            "The username or password is not correct.",
            1,
        ),
        (
            "connection-refused",
            SECOND_PASSWORD,
            f"http://127.0.0.1:{closed_port()}",
            "The server cannot be reached, or it did not answer.",
            0,
        ),
        (
            "not-iammeter",
            SECOND_PASSWORD,
            develop.ha_url,  # a web server, but not IAMMETER's API
            "A server answered at this URL, but it is not the IAMMETER API",
            1,
        ),
    )
    for name, password, url, error, cost in cases:
        fill_setup_form(page, SECOND_USER, password, url)
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text(error).first).to_be_visible()
        expect(page.locator("input[name=username]")).to_have_value(SECOND_USER)
        expect(page.locator("input[name=password]")).to_have_value(password)
        expect(page.locator("input[name=api_url]")).to_have_value(url)
        now_left = logins_left(page)
        if left is not None and now_left != left - cost:
            raise E2EError(
                f"{name}: {left} logins left before, {now_left} after "
                f"(expected {left - cost})"
            )
        report.say(f"  {name}: '{error}' shown; logins left {left} -> {now_left}")
        left = now_left
        report.shot(page, f"setup-error-{name}")


def add_second_account(browser: Browser, develop: Develop, report: Report) -> None:
    page = browser.page
    browser.sidebar("Settings")
    page.get_by_text("Devices & services", exact=True).first.click()
    page.get_by_role("tab", name="Integrations").click()
    page.get_by_role("button", name="Add integration").click()
    # Typed before the dialog's search field has the focus, "a" would open
    # Assist (a keyboard shortcut): wait for the field.
    search = page.get_by_placeholder(re.compile("search", re.IGNORECASE)).first
    try:
        expect(search).to_be_focused(timeout=10_000)
    except AssertionError:
        page.wait_for_timeout(1000)
    page.keyboard.type("IAMMETER")
    page.locator("ha-dialog, dialog").get_by_text("IAMMETER Cloud", exact=True).click()
    expect(page.get_by_text("IAMMETER cloud account")).to_be_visible()
    page.get_by_text("Advanced", exact=True).click()
    api_url = page.locator("input[name=api_url]")
    expect(api_url).to_have_value("https://www.iammeter.com")
    setup_errors(browser, develop, report)
    fill_setup_form(page, SECOND_USER, SECOND_PASSWORD, develop.sim_url)
    report.shot(page, "config-flow-form")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Choose the meters to add")).to_be_visible()
    for name, sn in SECOND_METERS.items():
        expect(page.get_by_text(f"{name} ({sn})")).to_be_visible()
    report.shot(page, "config-flow-meters")
    page.get_by_role("button", name="Submit").click()
    # The menu at the end of the setup: every phase grid, the dashboard as it is.
    page.get_by_text("Finish (every phase is grid)", exact=True).click()
    expect(page.get_by_text("Name and assign")).to_be_visible()
    names = page.get_by_role("textbox", name="Device name")
    expect(names).to_have_count(len(SECOND_METERS) + 1)  # and the account
    shown = [names.nth(i).input_value() for i in range(names.count())]
    if not set(SECOND_METERS) <= set(shown):
        raise E2EError(f"new devices {shown}, expected {list(SECOND_METERS)}")
    report.shot(page, "config-flow-created")
    page.get_by_role("button", name=re.compile("finish", re.IGNORECASE)).click()
    # Home Assistant then opens the integration's page at the new entry.
    expect(page).to_have_url(re.compile(r"/config/integrations/integration/iammeter"))
    for user in (CLOUD_USER, SECOND_USER):
        expect(page.get_by_text(user, exact=True).first).to_be_visible()
    report.shot(page, "integration-entries")


LIVE = [
    f"sensor.house_{kind}_phase_{p}"
    for kind in ("voltage", "current", "power")
    for p in "abc"
] + ["sensor.house_power", "sensor.garage_voltage", "sensor.garage_power"]


def refresh_sequence(
    browser: Browser, develop: Develop, token: str, report: Report
) -> None:
    """The refresh action pressed 4 times on each meter: each press reads the
    meter or is refused with its translated reason, and the live values (and
    the cloud connection) stay available throughout."""
    auth = {"Authorization": f"Bearer {token}"}
    outcomes = []
    for press in range(1, 5):
        for meter in ("house", "garage"):
            device = device_id(develop.ha_url, token, f"sensor.{meter}_power")
            status, answer = _http_status(
                f"{develop.ha_url}/api/services/iammeter_cloud/refresh",
                {"device_id": device},
                auth,
            )
            message = answer.get("message", "") if isinstance(answer, dict) else ""
            if status != 200 and not message.startswith("No reading now"):
                raise E2EError(f"refresh {press} of {meter}: HTTP {status} {answer}")
            outcomes.append(
                f"press {press}, {meter}: "
                + ("read the meter" if status == 200 else message)
            )
            states = {
                entity_id: _http(
                    f"{develop.ha_url}/api/states/{entity_id}", headers=auth
                )
                for entity_id in [*LIVE, "binary_sensor.house_cloud_connection"]
            }
            gone = [e for e, s in states.items() if s["state"] in GONE]
            if gone:
                raise E2EError(f"after refresh {press} of {meter}: {gone} unavailable")
            if states["binary_sensor.house_cloud_connection"]["state"] != "on":
                raise E2EError("the cloud connection turned off after a refresh")
    for line in outcomes:
        report.say(f"  {line}")
    page = browser.page
    browser.open_devices()
    page.locator("ha-data-table").get_by_text("House", exact=True).click()
    for name in expected_names():
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    shown = browser.entity_values("Sensors")  # numbers only: none unavailable
    if missing := [name for name in expected_names() if name not in shown]:
        raise E2EError(f"after the refreshes the page shows no value of {missing}")
    report.shot(page, "refresh-sequence-device", full_page=True)
    evidence(
        page,
        "The refresh action, pressed 4 times on each meter",
        [*outcomes, "", "after every press, available:", *LIVE],
    )
    report.shot(page, "refresh-sequence-outcomes", full_page=True)
    browser.back_to_ui(develop.ha_url)


def evidence(page: Page, title: str, lines: list[str]) -> None:
    """A plain page of text to screenshot (what the API answered)."""
    body = html.escape("\n".join(lines))
    page.set_content(
        f"<html><body style='font: 14px monospace; margin: 24px'>"
        f"<h3>{html.escape(title)}</h3><pre>{body}</pre></body></html>"
    )


def diagnostics_dump(
    browser: Browser, develop: Develop, token: str, report: Report
) -> None:
    """The entry's diagnostics: the demo's look-alike serials (SIM1PHASE001 and
    SIM3PHASE001 both end in E001) become two aliases, the same everywhere; no
    serial, password or token is in it."""
    auth = {"Authorization": f"Bearer {token}"}
    entries = _http(
        f"{develop.ha_url}/api/config/config_entries/entry?domain=iammeter_cloud",
        headers=auth,
    )
    entry = next(e for e in entries if e["title"] == CLOUD_USER)
    dump = _http(
        f"{develop.ha_url}/api/diagnostics/config_entry/{entry['entry_id']}",
        headers=auth,
    )
    text = json.dumps(dump, indent=2)
    (report.out / "diagnostics.json").write_text(text)
    # The ledger is shared by the entries: the second account's meters are in
    # it too (aliases numbered over all four sorted serials).
    aliases = sorted(set(re.findall(r"meter_\d+_[0-9A-Z]{4}", text)))
    ours = dump["data"]["entry"]["options"]["meters"]
    if (
        len(set(ours)) != len(METERS)
        or not all(alias.endswith("_E001") for alias in ours)
        or {meter["sn"] for meter in dump["data"]["meters"]} != set(ours)
        or set(dump["data"]["entry"]["data"]["meter_names"]) != set(ours)
        or len(aliases) != len(METERS) + len(SECOND_METERS)
    ):
        raise E2EError(f"aliases {aliases}; the entry's meters {ours}")
    leaked = [
        secret
        for secret in (*METERS.values(), CLOUD_PASSWORD, CLOUD_USER, *_CLOUD_TOKEN)
        if secret in text
    ]
    if leaked:
        raise E2EError(f"the diagnostics dump holds {leaked}")
    report.say(
        f"  the demo's meters: {ours} (everywhere in the dump: {aliases}); "
        "no serial, password, user name or token"
    )
    named = [f"{path} = {value}" for path, value in alias_paths(dump)]
    evidence(
        browser.page,
        "Diagnostics of the demo entry (artifacts/e2e/diagnostics.json): "
        "where a meter is named",
        [
            f"the demo's meters SIM1PHASE001, SIM3PHASE001 -> {', '.join(ours)}",
            "serial numbers, password, user name, token in the dump: none",
            "",
            *named[:50],
            *(["…"] if len(named) > 50 else []),
        ],
    )
    report.shot(browser.page, "diagnostics-aliases", full_page=True)
    browser.back_to_ui(develop.ha_url)


def alias_paths(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, value) of every meter alias in a dump, as key or value."""
    alias = re.compile(r"^meter_\d+_[0-9A-Z]{4}$")
    if isinstance(node, dict):
        for key, value in node.items():
            if alias.match(str(key)):
                yield f"{path}.{key} (key)", json.dumps(value)[:60]
            yield from alias_paths(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from alias_paths(value, f"{path}[{index}]")
    elif isinstance(node, str) and alias.match(node):
        yield path, node


POLISH_NAMES = ("Napięcie fazy A", "Natężenie prądu fazy C", "Moc fazy B", "Moc")


def set_language(page: Page, language: str, ha_url: str, token: str) -> None:
    """The user's language, as the profile page sets it (Home Assistant's own
    texts), and the server's, as Settings → System → General sets it (entity
    names come from the server, in the language it had when the entry was
    loaded: the entries are reloaded); then the page is."""
    page.evaluate(
        """async (language) => {
          const ha = document.querySelector("home-assistant");
          await ha.hass.callWS({type: "frontend/set_user_data", key: "language",
            value: {language, number_format: "language", time_format: "language"}});
          await ha.hass.callWS({type: "config/core/update", language});
          localStorage.setItem("selectedLanguage", JSON.stringify(language));
        }""",
        language,
    )
    auth = {"Authorization": f"Bearer {token}"}
    entries = _http(
        f"{ha_url}/api/config/config_entries/entry?domain=iammeter_cloud",
        headers=auth,
    )
    for entry in entries:
        _http(
            f"{ha_url}/api/config/config_entries/entry/{entry['entry_id']}/reload",
            {},
            headers=auth,
        )
    page.wait_for_timeout(2000)
    page.reload()


def polish_device_page(
    browser: Browser, develop: Develop, token: str, report: Report
) -> None:
    """The demo user switches to Polish (and the server, whose language entity
    names follow): the three-phase meter's page shows the integration's Polish
    entity names."""
    page = browser.page
    house = device_id(develop.ha_url, token, "sensor.house_power")
    page.goto(f"{develop.ha_url}/config/devices/device/{house}")
    expect(page.get_by_text("WEM3080T")).to_be_visible()
    set_language(page, "pl", develop.ha_url, token)
    try:
        expect(page.get_by_text("Sensory", exact=True).first).to_be_visible()
        page.wait_for_timeout(2000)
        report.shot(page, "device-three-phase-pl", full_page=True)
        card = "ha-device-entities-card:has-text('Sensory')"
        shown = " | ".join(rendered_text(page, card))
        if missing := [n for n in POLISH_NAMES if f"| {n} |" not in f"| {shown} |"]:
            raise E2EError(f"Polish names {missing} not shown: {shown}")
        report.say(f"  in Polish: {', '.join(POLISH_NAMES)}")
    finally:
        set_language(page, "en", develop.ha_url, token)
        expect(page.get_by_text("Sensors", exact=True).first).to_be_visible()


def phase_roles_in_options(browser: Browser, develop: Develop, report: Report) -> None:
    """Configure → Phase roles → House: phase C becomes a device, with the box
    *Add to the Energy dashboard*: the dialog says what was added (House C as a
    device; grid and solar, which the dashboard has, are kept), and the
    Energy dashboard's settings list it."""
    page = browser.page
    page.goto(f"{develop.ha_url}/config/integrations/integration/iammeter_cloud")
    row = page.locator("ha-config-entry-row", has_text=CLOUD_USER).first
    row.get_by_role("button", name="Configure").first.click()
    dialog = page.locator("dialog-data-entry-flow")
    dialog.get_by_text("Phase roles", exact=True).click()
    dialog.get_by_text("House (SIM3PHASE001)", exact=True).click()
    dialog.get_by_role("button", name="Next").or_(
        dialog.get_by_role("button", name="Submit")
    ).first.click()
    phase_c = dialog.get_by_text(re.compile(r"^Phase C\b")).first
    expect(phase_c).to_be_visible()
    phase_c.click()
    page.get_by_text("Device (a load of its own)", exact=True).last.click()
    expect(phase_c).to_be_visible()
    report.shot(page, "options-phase-roles")
    dialog.get_by_role("button", name="Submit").click()
    expect(dialog.get_by_text("Added to the Energy dashboard:")).to_be_visible()
    expect(dialog.get_by_text(re.compile(r"Devices: House C"))).to_be_visible()
    report.shot(page, "options-phase-roles-added")
    dialog.get_by_role("button", name=re.compile("close|finish", re.I)).first.click()


def energy_settings(browser: Browser, develop: Develop, report: Report) -> None:
    """Settings → Energy: the grid, solar and devices the integration set."""
    page = browser.page
    page.goto(f"{develop.ha_url}/config/energy")
    expect(page.get_by_text("House Solar energy phase B").first).to_be_visible()
    device = re.compile(r"^House (C|Device energy phase C)$")
    expect(page.get_by_text(device).first).to_be_visible()
    page.wait_for_timeout(1000)
    report.shot(page, "energy-config", full_page=True)


def history_imported(develop: Develop, token: str, patience: float) -> str:
    """The House's day-one history import, once done (its sensor's state)."""
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + patience
    while True:
        state = _http(
            f"{develop.ha_url}/api/states/sensor.house_history_import", headers=auth
        )
        if state["state"] == "imported":
            days = state["attributes"].get("days")
            return f"imported {days} days"
        if time.monotonic() > deadline:
            raise E2EError(f"history import still {state['state']}")
        time.sleep(5)


def roles_and_energy(
    browser: Browser, develop: Develop, token: str, report: Report
) -> None:
    phase_roles_in_options(browser, develop, report)
    report.say(f"  House: {history_imported(develop, token, 600)}")
    energy_settings(browser, develop, report)
    energy_dashboard(browser, report)


def energy_dashboard(browser: Browser, report: Report) -> None:
    page = browser.page
    browser.sidebar("Energy")
    expect(page.get_by_text("Energy distribution")).to_be_visible()
    expect(page.get_by_text("House Energy import").first).to_be_visible()
    page.wait_for_timeout(3000)  # let the charts draw
    report.shot(page, "energy-dashboard")


def run(args: argparse.Namespace) -> Report:
    out = (REPO / args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    config = out / "config"
    config.mkdir(parents=True)
    shutil.copy(REPO / "config/configuration.yaml", config)
    report = Report(out)
    develop = Develop(out, config, args.ha_port, args.sim_port)
    report.say(f"Home Assistant {develop.ha_url}, simulator {develop.sim_url}")
    report.say(
        f"config {config.relative_to(REPO)}, log {develop.log.relative_to(REPO)}"
    )
    with sync_playwright() as pw:
        try:
            scenario(pw, args, develop, report)
        except BaseException:
            Report.say(f"develop log (last lines):\n{develop.tail()}")
            raise
        finally:
            if not args.keep:
                develop.stop()
    return report


def timed_start(
    develop: Develop, run: int, report: Report, login: Callable[[], None]
) -> float:
    """Seconds from starting scripts/develop --demo to a logged-in dashboard."""
    began = time.monotonic()
    develop.start(run)
    develop.wait_ready(float(os.environ.get("E2E_START_TIMEOUT", "900")))
    report.say(f"  scripts/develop ready after {time.monotonic() - began:.1f} s")
    for line in develop.demo_lines():
        report.say(f"  | {line}")
    login()
    return time.monotonic() - began


def scenario(
    pw: Any, args: argparse.Namespace, develop: Develop, report: Report
) -> None:
    browser = Browser(pw, args.chromium, report)
    try:
        with report.step("1. scripts/develop --demo on a fresh config, then log in"):
            cold = timed_start(
                develop,
                1,
                report,
                lambda: browser.log_in(develop.ha_url, shot="login"),
            )
            report.timings["fresh config → logged-in dashboard"] = cold
            report.shot(browser.page, "dashboard")
        token = ha_token(develop.ha_url)
        with report.step("2. Settings → Devices & services → Devices: both meters"):
            browser.open_devices()
            browser.device_rows(list(METERS))
            report.shot(browser.page, "devices")
        with report.step("3. three-phase meter page: per-phase values = simulator"):
            check_three_phase_page(browser, develop, token, report)
        with report.step("4. add a second account in the UI, after each error"):
            add_second_account(browser, develop, report)
            browser.open_devices()
            browser.device_rows([*METERS, *SECOND_METERS])
        with report.step("5. the refresh action again and again: values stay"):
            refresh_sequence(browser, develop, token, report)
        with report.step("6. diagnostics: look-alike serials, two aliases"):
            diagnostics_dump(browser, develop, token, report)
        with report.step("7. phase roles, Energy dashboard; the page in Polish"):
            roles_and_energy(browser, develop, token, report)
            polish_device_page(browser, develop, token, report)
        if browser.errors:
            report.say(f"  page errors seen: {browser.errors[:5]}")
    except BaseException:
        with contextlib.suppress(Exception):
            report.shot(browser.page, "failure")
        raise
    finally:
        browser.close()
    with report.step("8. Ctrl-C stops Home Assistant and the simulator"):
        develop.stop()
    browser = Browser(pw, args.chromium, report)
    try:
        with report.step("9. scripts/develop --demo again (warm), log in"):
            warm = timed_start(
                develop, 2, report, lambda: browser.log_in(develop.ha_url, shot=None)
            )
            report.timings["warm restart → logged-in dashboard"] = warm
            browser.open_devices()
            browser.device_rows([*METERS, *SECOND_METERS])
            report.shot(browser.page, "devices-after-restart")
    except BaseException:
        with contextlib.suppress(Exception):
            report.shot(browser.page, "failure")
        raise
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/e2e", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--ha-port", type=int, default=8223)
    parser.add_argument("--sim-port", type=int, default=8224)
    parser.add_argument("--out", default="artifacts/e2e", help="git-ignored folder")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument(
        "--keep", action="store_true", help="leave Home Assistant running at the end"
    )
    args = parser.parse_args()
    began = time.monotonic()
    try:
        report = run(args)
    except Exception as err:  # E2EError, or Playwright's timeouts and assertions
        Report.say(f"FAILED: {type(err).__name__}: {err}")
        sys.exit(1)
    Report.say(f"PASSED in {time.monotonic() - began:.0f} s")
    for name, seconds in report.timings.items():
        Report.say(f"  {name}: {seconds:.1f} s")
    Report.say("screenshots:")
    for path in report.shots:
        Report.say(f"  {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
