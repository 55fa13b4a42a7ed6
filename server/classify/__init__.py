"""The decision: readers find the errors in an input, the classifier decides each one."""

from whatsapp_errors.server.classify.classifier import Classifier, ClassifierHolder
from whatsapp_errors.server.classify.decide import Decision
from whatsapp_errors.server.classify.found import FoundError, InputError

__all__ = ["Classifier", "ClassifierHolder", "Decision", "FoundError", "InputError"]
