"""Run the IAMMETER cloud simulator standalone: ``python -m tests.simulator``."""

import argparse
import asyncio
import contextlib
from datetime import datetime
import json
from pathlib import Path
import signal

from .model import SimMeter
from .server import COLUMNS, LOGIN_IDS, CloudSimulator, Shapes

DEMO_USER, DEMO_PASSWORD = "demo@example.com", "demo-password"
SECOND_USER, SECOND_PASSWORD = "demo2@example.com", "demo2-password"


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument("--username", default=DEMO_USER)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument(
        "--meters",
        default="",
        help="SN:PHASES list, e.g. SIM1PHASE001:1,SIM3PHASE001:3 (default: demo)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tz", default="Europe/Warsaw", help="IANA time zone")
    parser.add_argument(
        "--analysis-spelling",
        default="powerAnalysis",
        choices=["powerAnalysis", "powerAnalytics", "powerAnalytic"],
    )
    parser.add_argument(
        "--extra-account",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="another account (repeatable); the n-th (from 2) holds meters "
        "SIM1PHASE00n 'Workshop' and SIM3PHASE00n 'Office'",
    )
    shapes = parser.add_argument_group(
        "answer shapes", "what the vendor's own clients expect of the real cloud"
    )
    shapes.add_argument(
        "--extra-values",
        type=int,
        default=0,
        metavar="N",
        help="N values after the documented ones in every row (frequency, ...)",
    )
    shapes.add_argument(
        "--nulls",
        default="",
        metavar="COLUMNS",
        help=f"columns sent as null, comma-separated: {', '.join(COLUMNS)}, extra",
    )
    shapes.add_argument("--login-id", default="int", choices=LOGIN_IDS)
    shapes.add_argument(
        "--sitelist-bad-items",
        action="store_true",
        help="unusable sites and meter items in the site list",
    )
    parser.add_argument(
        "--state",
        type=Path,
        help="JSON file keeping the model epoch and issued tokens across restarts, "
        "like the real cloud: counters continue and tokens stay valid",
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> CloudSimulator:
    """Simulator for the command-line options."""
    if not args.meters and args.username == DEMO_USER:
        sim = CloudSimulator.demo(seed=args.seed, tz=args.tz, nested=True)
    else:
        sim = CloudSimulator()
        meters = []
        for item in (args.meters or "SIM1PHASE001:1,SIM3PHASE001:3").split(","):
            sn, _, phases = item.strip().partition(":")
            meters.append(SimMeter(sn, int(phases or 1), sn, args.seed, tz=args.tz))
        sim.add_account(args.username, args.password, 1001, meters)
    for n, item in enumerate(args.extra_account, start=2):
        user, sep, password = item.partition(":")
        if not (user and sep and password):
            raise SystemExit(f"--extra-account {item!r}: expected USER:PASSWORD")
        suffix = "" if n == 2 else f" {n}"
        extra = [
            SimMeter(f"SIM{k}PHASE{n:03d}", k, name + suffix, args.seed, tz=args.tz)
            for k, name in ((1, "Workshop"), (3, "Office"))
        ]
        sim.add_account(user, password, 1000 + n, extra)
    sim.analysis_spelling = args.analysis_spelling
    try:
        sim.shapes = Shapes(
            extra_values=max(args.extra_values, 0),
            nulls=frozenset(c.strip() for c in args.nulls.split(",") if c.strip()),
            login_id=args.login_id,
            sitelist_bad_items=args.sitelist_bad_items,
        )
    except ValueError as err:
        raise SystemExit(f"--nulls: {err}") from None
    if args.state is not None:
        _restore(sim, args.state)
    return sim


def _restore(sim: CloudSimulator, path: Path) -> None:
    """Continue from a saved state: the same model epoch, the same tokens."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        state = json.loads(path.read_text(encoding="utf-8"))
        sim.created = datetime.fromisoformat(state["created"])
        for account in sim.accounts.values():
            for site in account.sites:
                for meter in site.meters:
                    meter.start_m = None
                    meter.attach(sim.created)
        for token, username in state["tokens"].items():
            if username in sim.accounts:
                sim._tokens[token] = sim.accounts[username]
    _save(sim, path)


def _save(sim: CloudSimulator, path: Path) -> None:
    tokens = {t: a.username for t, a in sim._tokens.items()}
    state = {"created": sim.created.isoformat(), "tokens": tokens}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state), encoding="utf-8")


async def _serve(args: argparse.Namespace) -> None:
    sim = build(args)
    url = await sim.start(args.host, args.port)
    print(f"IAMMETER cloud simulator on {url}/api/v1/", flush=True)
    for account in sim.accounts.values():
        shown = account.password if account.password.startswith("demo") else "***"
        print(f"  username: {account.username}  password: {shown}")
        for site in account.sites:
            for m in site.meters:
                print(f"    meter {m.sn} ({m.phases}-phase, {m.name!r})")
    print("Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
        if args.state is not None:
            _save(sim, args.state)
        print("Simulator stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
