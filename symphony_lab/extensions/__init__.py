"""The extensions shipped with symphony-lab, one package each (a folder with
its ``symphony.toml``). They are found like any installed extension, through
the ``symphony_lab.extensions`` entry points in ``pyproject.toml``, and they
import only the SDK: the extension side knows nothing of the host."""
