"""Qt widgets of Fibuca Desktop. Everything that needs PySide6 or pyqtgraph lives here."""
