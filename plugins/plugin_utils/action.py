# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection's action plugins share: the start of run() and marking the collection's own templates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

try:  # ansible-core >= 2.19 only templates strings explicitly marked as trusted templates
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older cores trust every string

    def trust_as_template(value):
        return value


def trusted(value):
    """Strings the collection ships (role defaults, layer templates) are its own templates: mark them as such."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


class LocalAction(ActionBase):
    """An action that runs on the controller: no connection, no files to transfer, arguments checked first."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}

    def start(self, tmp, task_vars):
        """(task_vars, result, validated arguments) for run()."""
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        return task_vars, result, self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)[1]
