"""The one error the dev stack raises: a single line a person can act on."""


class DevStackError(Exception):
    pass
