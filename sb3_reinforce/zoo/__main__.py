"""``python -m sb3_reinforce.zoo SCRIPT [ARGS...]``: same as the ``sb3-reinforce-zoo`` command."""

from sb3_reinforce.zoo.cli import main

if __name__ == "__main__":
    main()
