"""Routes of the French back-office (§13) and of the staff stats API (§15)."""

from django.urls import path

from commandes import views as commandes_views
from leads import views as leads_views
from leads.stats_api import DailyStatsView
from providers import views as providers_views
from rdz.core import views as core_views

urlpatterns = [
    path("connexion/", core_views.BackofficeLoginView.as_view(), name="login"),
    path("deconnexion/", core_views.BackofficeLogoutView.as_view(), name="logout"),
    path("entite/", core_views.EntitySwitchView.as_view(), name="backoffice-entity"),
    # Pilotage
    path("", core_views.DashboardView.as_view(), name="backoffice-dashboard"),
    path("statistiques/", leads_views.StatisticsView.as_view(), name="backoffice-statistics"),
    path("alertes/", core_views.AlertListView.as_view(), name="backoffice-alerts"),
    # Administration
    path("parametres/", core_views.SettingsView.as_view(), name="backoffice-settings"),
    path("comptes/", core_views.AccountListView.as_view(), name="backoffice-accounts"),
    path("comptes/nouveau/", core_views.AccountFormView.as_view(), name="backoffice-account-create"),
    path("comptes/<int:pk>/", core_views.AccountFormView.as_view(), name="backoffice-account-edit"),
    # Leads
    path("leads/", leads_views.LeadListView.as_view(), name="backoffice-leads"),
    path("leads/export.csv", leads_views.LeadExportView.as_view(), name="backoffice-leads-export"),
    path("leads/<uuid:pk>/", leads_views.LeadDetailView.as_view(), name="backoffice-lead"),
    # Acquisition
    path("formulaires/", leads_views.FormListView.as_view(), name="backoffice-forms"),
    path("scripts/", leads_views.TrackingScriptListView.as_view(), name="backoffice-scripts"),
    path("providers/", providers_views.ProviderListView.as_view(), name="backoffice-providers"),
    # Distribution
    path("clients/", commandes_views.ClientListView.as_view(), name="backoffice-clients"),
    path("commandes/", commandes_views.CommandeListView.as_view(), name="backoffice-commandes"),
    path("livraisons/", commandes_views.DeliveryListView.as_view(), name="backoffice-deliveries"),
    path("livraisons/<int:pk>/csv/", commandes_views.DeliveryDownloadView.as_view(), name="backoffice-delivery-csv"),
    path("backlog/", commandes_views.BacklogView.as_view(), name="backoffice-backlog"),
    path("rejets/", commandes_views.RejectionListView.as_view(), name="backoffice-rejections"),
]

api_urlpatterns = [
    path("stats/daily/", DailyStatsView.as_view(), name="api-stats-daily"),
]
