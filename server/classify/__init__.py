"""The decision: readers find the errors in an input, the classifier decides each one."""

from server.classify.classifier import Classifier, ClassifierHolder
from server.classify.decide import Decision
from server.classify.found import FoundError, InputError

__all__ = ["Classifier", "ClassifierHolder", "Decision", "FoundError", "InputError"]
