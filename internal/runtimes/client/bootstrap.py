"""Entry point of the Nimbus Python runtime client (see nimbus_runtime)."""
import nimbus_runtime

nimbus_runtime.main()
