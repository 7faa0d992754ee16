"""Run the IAMMETER cloud simulator standalone: ``python -m tests.simulator``."""

import argparse
import asyncio
import contextlib
import signal

from .model import SimMeter
from .server import CloudSimulator

DEMO_USER, DEMO_PASSWORD = "demo@example.com", "demo-password"


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
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> CloudSimulator:
    """Simulator for the command-line options."""
    if not args.meters and args.username == DEMO_USER:
        sim = CloudSimulator.demo(seed=args.seed, tz=args.tz)
    else:
        sim = CloudSimulator()
        meters = []
        for item in (args.meters or "SIM1PHASE001:1,SIM3PHASE001:3").split(","):
            sn, _, phases = item.strip().partition(":")
            meters.append(SimMeter(sn, int(phases or 1), sn, args.seed, tz=args.tz))
        sim.add_account(args.username, args.password, 1001, meters)
    sim.analysis_spelling = args.analysis_spelling
    return sim


async def _serve(args: argparse.Namespace) -> None:
    sim = build(args)
    url = await sim.start(args.host, args.port)
    shown = args.password if args.password == DEMO_PASSWORD else "(as given)"
    print(f"IAMMETER cloud simulator on {url}/api/v1/", flush=True)
    print(f"  username: {args.username}  password: {shown}")
    for account in sim.accounts.values():
        for site in account.sites:
            for m in site.meters:
                print(f"  meter {m.sn} ({m.phases}-phase, {m.name!r})")
    print("Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
        print("Simulator stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
