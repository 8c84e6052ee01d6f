"""The screens of the reviewer's UI."""

from modqueue.tui.screens.checkin import CheckInScreen
from modqueue.tui.screens.dashboard import DashboardScreen
from modqueue.tui.screens.help import HelpScreen
from modqueue.tui.screens.incidents import IncidentsScreen
from modqueue.tui.screens.note import NoteScreen
from modqueue.tui.screens.queues import QueuesScreen
from modqueue.tui.screens.review import ReviewScreen

__all__ = [
    "CheckInScreen",
    "DashboardScreen",
    "HelpScreen",
    "IncidentsScreen",
    "NoteScreen",
    "QueuesScreen",
    "ReviewScreen",
]
