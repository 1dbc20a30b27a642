"""Registration's questions to AWS, per traffic mode: which color is live now, and the settings to store.

`register` (in the controller) never guesses the live color: EB's CNAME owner ("cname"), the load
balancer's rule ("alb"), or the claim ("lease": nothing at AWS can say) decides, and a claim AWS
contradicts is refused.
"""

from __future__ import annotations

from typing import Any

from bluegreen.errors import BadInput, Refused
from bluegreen.models import AppConfig, AppState, EnvironmentObservation, Tuning


def merged_tuning(given: Any, previous: AppState | None) -> dict[str, Any]:
    passed = {name: getattr(given, name) for name in given.model_fields_set if name in Tuning.model_fields}
    stored = previous.config.tuning() if previous else {}
    merged = {**Tuning().tuning(), **stored, **passed}
    if merged.get("traffic") != "alb" and "alb" not in passed:
        merged["alb"] = None  # leaving traffic "alb": its stored rule no longer applies
    return merged


def live_at_the_load_balancer(given: Any, tuning: dict[str, Any], environments: tuple[str, str]) -> tuple[str, str]:
    """Traffic "alb": the color the production rule forwards everything to, as ELB reports it."""
    from bluegreen.aws.elb import percent_to, read_weights, validate_alb
    from bluegreen.models import AlbTraffic

    raw = tuning.get("alb")
    if raw is None:
        raise BadInput('traffic "alb" needs alb: {"rule_arn": ..., "target_groups": {<color>: <arn>}}')
    alb = raw if isinstance(raw, AlbTraffic) else AlbTraffic.model_validate(raw)
    if set(alb.target_groups) != set(environments):
        raise BadInput(f"alb.target_groups must name exactly the two colors {list(environments)}")
    validate_alb(None, alb.rule_arn, dict(alb.target_groups))
    from bluegreen.aws.elb import is_opted_in

    if not is_opted_in(None, alb.rule_arn):
        raise Refused(
            f"{alb.rule_arn} is not tagged bluegreen:managed=true: the controller may change the weights of "
            "opted-in rules only (tag the rule, or the listener for its default action)"
        )
    weights = read_weights(None, alb.rule_arn)
    shares = {env: percent_to(weights, arn) for env, arn in alb.target_groups.items()}
    live = next((env for env, percent in shares.items() if percent == 100), None)
    if live is None:
        raise Refused(
            f"the rule {alb.rule_arn} splits traffic ({shares}): send 100% to the live color first, then register"
        )
    if given.live_environment and given.live_environment != live:
        raise Refused(f"ELB forwards all traffic to {live}, not {given.live_environment}")
    return live, ""


def live_by_claim(given: Any, previous: AppState | None, environments: tuple[str, str]) -> tuple[str, str]:
    """Traffic "lease": nothing outside bluegreen says which color consumes; the claim (or the record) does."""
    live = given.live_environment or (previous.live_environment if previous is not None else None)
    if live is None:
        raise BadInput(
            f'traffic "lease" needs live_environment: which of {list(environments)} consumes now '
            "(a polling bot has no CNAME or load balancer that could say)"
        )
    return live, ""


def live_color(given: Any, previous: AppState | None, observed: dict[str, EnvironmentObservation]) -> tuple[str, str]:
    """Which color holds the production CNAME, as EB reports it. A claim that EB contradicts is refused."""
    names = list(observed)
    wanted = given.production_cname
    if not wanted and previous is not None and set(previous.config.environments) == set(names):
        wanted = previous.config.production_cname
    if wanted:
        holders = [name for name, env in observed.items() if env.cname == wanted]
        if not holders:
            raise BadInput(f"neither environment holds the production CNAME {wanted}")
        live = holders[0]
        if given.live_environment and given.live_environment != live:
            raise Refused(
                f"EB reports the production CNAME {wanted} on {live}, not {given.live_environment}; "
                f"registering {given.live_environment} as live would deploy onto production"
            )
        return live, wanted
    if not given.live_environment:
        cnames = ", ".join(f"{n} holds {e.cname}" for n, e in observed.items())
        raise BadInput(
            f"register needs production_cname (the CNAME your users resolve) or live_environment: EB "
            f"reports {cnames}, and nothing EB reports says which of them is production"
        )
    live = given.live_environment
    other = next(n for n in names if n != live)
    cname = observed[live].cname
    # EB's default CNAME prefix is the environment's own name. A claim that looks contradicted is refused
    # (never guessed): the other color's name on this CNAME means the colors were swapped since they
    # were created; the other color holding the only custom CNAME usually means it serves production.
    custom = [n for n, e in observed.items() if e.cname.split(".", 1)[0] not in names]
    if custom == [other]:
        raise Refused(
            f"{other} holds {observed[other].cname}, which looks like the production CNAME, not {live}; "
            f"pass production_cname to say which CNAME serves production"
        )
    if cname.split(".", 1)[0] == other:
        raise Refused(
            f"{live} holds {cname}, the CNAME named after {other}: the colors look swapped; "
            f"pass production_cname to say which CNAME serves production"
        )
    return live, cname


def serves(config: AppConfig, cname: str) -> str:
    if config.traffic == "alb":
        return "gets all traffic at the load balancer"
    if config.traffic == "lease":
        return "consumes (the consumer lease)"
    return f"holds {cname}"
