import shutil

import pytest

from engine.sample import espeak_available


@pytest.fixture(scope="session")
def espeak():
    """espeak-ng is a Debian package the test command installs; fail loudly if it is missing."""
    if not espeak_available():
        pytest.fail("espeak-ng is required for the speech fixtures (apt-get install espeak-ng)")
    return shutil.which("espeak-ng")
