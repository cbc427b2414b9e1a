import { PageHeader } from '../components/common';

export function NamespacesPage() {
  return <PageHeader title="Namespaces" />;
}
