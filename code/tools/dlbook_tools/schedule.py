"""The workshop schedule: share the episodes' minutes out over days or half days, with
breaks. Pure arithmetic on the episodes' front-matter times; :mod:`dlbook_tools.summaries`
renders the result as tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pages import Episode


@dataclass
class Slot:
    kind: str  # "episode" | "break" | "lunch" | "opening" | "recap" | "closing"
    minutes: int
    episode: Episode | None = None
    continued: bool = False  # a later piece of an episode split by a break or a day's end


def _round5(minutes: float) -> int:
    return max(5, int(5 * round(minutes / 5)))


def split_sessions(eps: list[Episode], sessions: int, slack: int = 30) -> list[list[Slot]]:
    """Share the episodes out over ``sessions`` sessions of about equal length, in order.

    An episode that does not fit what is left of a session (beyond ``slack`` minutes) is
    split; a session that is within ``slack`` of its share ends before the next episode.
    """
    total = sum(e.minutes for e in eps)
    target = total / sessions
    plan: list[list[Slot]] = [[]]
    used = 0.0
    for ep in eps:
        remaining = ep.minutes
        while remaining > 0:
            last = len(plan) == sessions
            room = target - used
            if last or remaining <= room + slack:
                take = remaining
            elif room <= slack:
                plan.append([])
                used = 0.0
                continue
            else:
                take = min(remaining, _round5(room))
            plan[-1].append(Slot("episode", take, ep))
            used += take
            remaining -= take
            if not last and used >= target - slack / 2 and remaining > 0:
                plan.append([])
                used = 0.0
    return [s for s in plan if s]


def add_breaks(
    session: list[Slot],
    every: int = 90,
    tolerance: int = 15,
    break_minutes: int = 15,
    lunch_minutes: int = 0,
    early: int = 30,
) -> list[Slot]:
    """Insert a break about every ``every`` minutes of teaching: after an episode that ends
    within ``tolerance`` of that mark, before one that would run past it when the mark is at
    most ``early`` minutes away, else inside the episode. With ``lunch_minutes`` the break
    nearest the middle of the session becomes lunch."""
    out: list[Slot] = []
    since = 0
    queue = [Slot(s.kind, s.minutes, s.episode) for s in session]
    content_left = sum(s.minutes for s in queue if s.kind == "episode")  # no break before a wrap-up
    for slot in queue:
        if slot.kind != "episode":  # welcome, recap, wrap-up: never split, but it counts
            out.append(slot)
            since += slot.minutes
            continue
        remaining = slot.minutes
        while remaining > 0:
            room = every - since
            at_start = remaining == slot.minutes
            if remaining <= room + tolerance:
                take = remaining
            elif room <= tolerance or (at_start and room <= early and since > 0):
                out.append(Slot("break", break_minutes))
                since = 0
                continue
            else:
                take = _round5(room)
            out.append(Slot("episode", take, slot.episode))
            since += take
            remaining -= take
            content_left -= take
            if content_left > 0 and since >= every - tolerance:
                out.append(Slot("break", break_minutes))
                since = 0
    if lunch_minutes:
        breaks = [i for i, s in enumerate(out) if s.kind == "break"]
        if breaks:
            total = sum(s.minutes for s in out if s.kind not in ("break", "lunch"))
            done, best, best_gap = 0, None, None
            for i, s in enumerate(out):
                if s.kind not in ("break", "lunch"):
                    done += s.minutes
                elif best_gap is None or abs(done - total / 2) < best_gap:
                    best, best_gap = i, abs(done - total / 2)
            out[best] = Slot("lunch", lunch_minutes)
    return out


# What the schedule calls the slots that are not episodes.
SLOT_NAMES = {
    "break": "Break",
    "lunch": "Lunch",
    "opening": "Welcome, introductions and setup check",
    "recap": "Recap of the last session, and questions",
    "closing": "Wrap-up and feedback",
}


def frame_sessions(plan: list[list[Slot]], opening: int = 0, recap: int = 0, closing: int = 0) -> None:
    """Open the first session with a welcome, later ones with a recap, and close the last."""
    for number, session in enumerate(plan):
        if number == 0 and opening:
            session.insert(0, Slot("opening", opening))
        elif number > 0 and recap:
            session.insert(0, Slot("recap", recap))
    if plan and closing:
        plan[-1].append(Slot("closing", closing))


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def read_clock(text: str) -> int:
    hours, minutes = str(text).split(":")
    return int(hours) * 60 + int(minutes)
